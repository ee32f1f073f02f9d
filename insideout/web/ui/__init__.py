"""Gradio views. This issue's page is a plain home; the captcha, labeling and admin views follow."""

from __future__ import annotations

import gradio as gr

from ...captcha import Policy
from ...services import Services


def build_blocks(services: Services) -> gr.Blocks:
    policy = services.captcha.policy
    with gr.Blocks(title="InsideOut") as blocks:
        gr.Markdown(
            "# InsideOut\n"
            "An audio CAPTCHA that asks which emotion a voice expresses, and a crowd-labeling "
            "platform for emotional speech.\n\n"
            f"Policy: pass {policy.rounds_to_pass} of at most {policy.max_rounds} rounds. "
            f"Chance that random guessing passes: {_percent(policy)}.\n\n"
            "The HTTP API is at `/api/v1` (see `/docs`)."
        )
        pools = gr.JSON(label="Clip pools")
        blocks.load(services.library.pool_counts, outputs=pools)
    return blocks


def _percent(policy: Policy) -> str:
    return f"{policy.chance_pass_probability():.1%}"
