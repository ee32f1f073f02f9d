"""The acoustic model: torchaudio's Tacotron2, conditioned on the emotion, and its checkpoints.

The emotion enters as a learned embedding added to every encoder output through a projection that
starts at zero, so a neutral pretrained Tacotron2 loads and speaks exactly as before until training
teaches it the emotions. The speaker enters the same way, beside it: a corpus of several voices with no
speaker input makes the decoder predict their average, which smooths away the pitch movement that
carries emotion. The speaker table is recorded in the checkpoint like the emotions; one extra row,
fixed at zero, stands for an unknown speaker (a crowd clip of no starter voice), so such clips train and
speak as the model without speakers would. A checkpoint without speakers has no speaker layers at all.

Checkpoint formats read here:
- InsideOut's own (`format: insideout-tacotron2`): config, weights (fp16 on disk), the emotion
  table, the text frontend, the mel settings and how it was trained.
- torchaudio's Tacotron2 pipeline weights: a bare state dict of torchaudio.models.Tacotron2.
- NVIDIA's `tacotron2_statedict.pt`: `{"state_dict": ...}` with their layer names.
Any of them from a local path, or by http(s) URL where the network allows (as on Spaces).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torchaudio
from torch import nn

from ..emotions import EMOTION_IDS
from .mel import MEL
from .text import NVIDIA, PHONEMES, TORCHAUDIO, Frontend

FORMAT = "insideout-tacotron2"
FORMAT_VERSION = 1
NEUTRAL = EMOTION_IDS.index("neutral")  # emotion_offset scales the others' distance from it


class CheckpointError(ValueError):
    pass


@dataclass(frozen=True)
class Tacotron2Config:
    n_symbols: int = len(PHONEMES.symbols)
    symbol_embedding_dim: int = 512
    encoder_embedding_dim: int = 512
    encoder_n_convolution: int = 3
    encoder_kernel_size: int = 5
    decoder_rnn_dim: int = 1024
    attention_rnn_dim: int = 1024
    attention_hidden_dim: int = 128
    attention_location_n_filter: int = 32
    attention_location_kernel_size: int = 31
    prenet_dim: int = 256
    postnet_n_convolution: int = 5
    postnet_embedding_dim: int = 512
    decoder_max_step: int = 1000  # 11.6 s of audio: longer than any clip we make
    gate_threshold: float = 0.5
    n_emotions: int = len(EMOTION_IDS)
    emotion_dim: int = 64
    n_speakers: int = 0  # 0: no speaker input (checkpoints made before speakers)
    speaker_dim: int = 64

    @classmethod
    def from_dict(cls, data: dict) -> Tacotron2Config:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Sizes: "small" trains on this 2-core CPU (4.2M parameters, ~0.7 s per step at batch 16);
# "default" is torchaudio's and NVIDIA's size (28M), the one public checkpoints have.
PRESETS = {
    "small": Tacotron2Config(symbol_embedding_dim=256, encoder_embedding_dim=256, decoder_rnn_dim=256,
                             attention_rnn_dim=256, prenet_dim=128, postnet_embedding_dim=256),
    "default": Tacotron2Config(),
}


class EmotionTacotron2(nn.Module):
    def __init__(self, config: Tacotron2Config):
        super().__init__()
        self.config = config
        c = config
        self.backbone = torchaudio.models.Tacotron2(
            n_mels=MEL.n_mels, n_symbol=c.n_symbols, symbol_embedding_dim=c.symbol_embedding_dim,
            encoder_embedding_dim=c.encoder_embedding_dim, encoder_n_convolution=c.encoder_n_convolution,
            encoder_kernel_size=c.encoder_kernel_size, decoder_rnn_dim=c.decoder_rnn_dim,
            decoder_max_step=c.decoder_max_step, attention_rnn_dim=c.attention_rnn_dim,
            attention_hidden_dim=c.attention_hidden_dim,
            attention_location_n_filter=c.attention_location_n_filter,
            attention_location_kernel_size=c.attention_location_kernel_size, prenet_dim=c.prenet_dim,
            postnet_n_convolution=c.postnet_n_convolution, postnet_embedding_dim=c.postnet_embedding_dim,
            gate_threshold=c.gate_threshold,
        )
        self.emotion_embedding = nn.Embedding(c.n_emotions, c.emotion_dim)
        self.emotion_projection = nn.Linear(c.emotion_dim, c.encoder_embedding_dim)
        nn.init.zeros_(self.emotion_projection.weight)
        nn.init.zeros_(self.emotion_projection.bias)
        if c.n_speakers:
            # Row n_speakers is the unknown speaker: padding_idx keeps it zero and untrained, and with no
            # bias in the projection it adds exactly nothing.
            self.speaker_embedding = nn.Embedding(c.n_speakers + 1, c.speaker_dim, padding_idx=c.n_speakers)
            self.speaker_projection = nn.Linear(c.speaker_dim, c.encoder_embedding_dim, bias=False)
            nn.init.zeros_(self.speaker_projection.weight)

    @property
    def unknown_speaker(self) -> int:
        return self.config.n_speakers

    def emotion_offset(self, emotions: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """What each emotion adds to the encoder's outputs, (batch, encoder dim). strength scales each
        emotion's difference from neutral (1: as trained; above 1: exaggerated, below: toned down); neutral's
        own offset never changes."""
        offset = self.emotion_projection(self.emotion_embedding(emotions))
        if strength == 1.0:
            return offset
        neutral = self.emotion_projection(self.emotion_embedding(torch.full_like(emotions, NEUTRAL)))
        return neutral + strength * (offset - neutral)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor, emotions: torch.Tensor,
               speakers: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
        embedded = self.backbone.embedding(tokens).transpose(1, 2)
        encoded = self.backbone.encoder(embedded, lengths)
        encoded = encoded + self.emotion_offset(emotions, strength).unsqueeze(1)
        if speakers is not None and self.config.n_speakers:
            encoded = encoded + self.speaker_projection(self.speaker_embedding(speakers)).unsqueeze(1)
        return encoded

    def forward(self, tokens, token_lengths, emotions, mels, mel_lengths, speakers=None):
        """Teacher-forced: (mel before postnet, mel after postnet, gate logits, alignments).
        speakers: one index per row (unknown_speaker for none); None: no speaker input."""
        encoded = self.encode(tokens, token_lengths, emotions, speakers)
        mel, gate, alignments = self.backbone.decoder(encoded, mels, memory_lengths=token_lengths)
        mel_post = mel + self.backbone.postnet(mel)
        return mel, mel_post, gate, alignments

    @torch.inference_mode()
    def infer(self, tokens, lengths, emotions, speakers=None, strength: float = 1.0):
        """Free-running: (mel after postnet, mel lengths, alignments (batch, frames, tokens)); strength as in
        emotion_offset."""
        encoded = self.encode(tokens, lengths, emotions, speakers, strength)
        mel, mel_lengths, _, alignments = self.backbone.decoder.infer(encoded, lengths)
        mel = mel + self.backbone.postnet(mel)
        n_batch = tokens.shape[0]
        alignments = alignments.unfold(1, n_batch, n_batch).transpose(0, 2)
        return mel, mel_lengths, alignments


@dataclass
class AcousticModel:
    """A loaded checkpoint: the network, its text frontend, and where it came from."""

    model: EmotionTacotron2
    frontend: Frontend
    version: str  # short content hash: names the weights in every clip's provenance
    provenance: dict
    speakers: tuple[str, ...] = ()  # the speaker table: row i speaks as speakers[i]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def with_speakers(model: EmotionTacotron2, speakers: tuple[str, ...], new: tuple[str, ...]) -> tuple[
        EmotionTacotron2, tuple[str, ...]]:
    """The model with `new` speakers added to its table `speakers` (those already there are kept, in
    place): (model, the whole table). Everything else is copied; a model that had no speakers gets a
    zero projection, so it speaks exactly as before until trained."""
    added = tuple(dict.fromkeys(n for n in new if n not in speakers))
    if not added:
        return model, speakers
    table = speakers + added
    grown = EmotionTacotron2(replace(model.config, n_speakers=len(table)))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("speaker_")}
    missing, unexpected = grown.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("speaker_") for k in missing), (missing, unexpected)
    if speakers:
        with torch.no_grad():
            grown.speaker_embedding.weight[: len(speakers)] = model.speaker_embedding.weight[: len(speakers)]
            grown.speaker_projection.weight.copy_(model.speaker_projection.weight)
    grown.train(model.training)
    return grown, table


def speaker_index(model: EmotionTacotron2, speakers: tuple[str, ...], name: str | None) -> int:
    """A speaker's row in the model's table; unknown_speaker for a name not in it (or none)."""
    return speakers.index(name) if name in speakers else model.unknown_speaker


def version_of(state_dict: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state_dict):
        h.update(key.encode())
        h.update(state_dict[key].detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:12]


def save(model: AcousticModel | EmotionTacotron2, path: str | Path, frontend: Frontend | None = None,
         provenance: dict | None = None, fp16: bool = True, speakers: tuple[str, ...] = ()) -> str:
    """Write the project's own format; returns the version. fp16 halves the file, costs nothing audible."""
    if isinstance(model, AcousticModel):
        frontend, provenance, speakers, model = (model.frontend, {**model.provenance, **(provenance or {})},
                                                 model.speakers, model.model)
    if len(speakers) != model.config.n_speakers:
        raise CheckpointError(f"{len(speakers)} speaker names for a model of {model.config.n_speakers} speakers")
    state = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    version = version_of(state)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "config": asdict(model.config),
                "state_dict": state, "emotions": list(EMOTION_IDS),
                "speakers": list(speakers), "frontend": (frontend or PHONEMES).to_dict(),
                "mel": asdict(MEL), "provenance": provenance or {}, "version": version}, tmp)
    tmp.replace(path)
    return version


def _read(source: str | Path) -> dict:
    text = str(source)
    try:
        if text.startswith(("http://", "https://")):
            return torch.hub.load_state_dict_from_url(text, map_location="cpu", progress=False, weights_only=True)
        path = Path(text)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - torch and urllib raise many types for a bad source
        raise CheckpointError(f"{text}: not a readable checkpoint ({type(e).__name__}: {e})") from None


def _nvidia_to_torchaudio(state: dict) -> dict:
    # NVIDIA wraps layers as LinearNorm(linear_layer) and ConvNorm(conv); torchaudio does not.
    out = {}
    for key, value in state.items():
        parts = [p for p in key.split(".") if p not in ("linear_layer", "conv")]
        out[".".join(parts)] = value
    return out


def _config_from_backbone(state: dict) -> Tacotron2Config:
    """Infer sizes from a bare torchaudio Tacotron2 state dict."""
    try:
        n_symbols, symbol_dim = state["embedding.weight"].shape
        encoder_dim = state["encoder.lstm.weight_ih_l0"].shape[0] // 4 * 2
        return Tacotron2Config(
            n_symbols=n_symbols, symbol_embedding_dim=symbol_dim, encoder_embedding_dim=encoder_dim,
            encoder_n_convolution=len({k.split(".")[2] for k in state if k.startswith("encoder.convolutions.")}),
            encoder_kernel_size=state["encoder.convolutions.0.0.weight"].shape[-1],
            decoder_rnn_dim=state["decoder.decoder_rnn.weight_hh"].shape[1],
            attention_rnn_dim=state["decoder.attention_rnn.weight_hh"].shape[1],
            attention_hidden_dim=state["decoder.attention_layer.query_layer.weight"].shape[0],
            attention_location_n_filter=state["decoder.attention_layer.location_layer.location_conv.weight"].shape[0],
            attention_location_kernel_size=state[
                "decoder.attention_layer.location_layer.location_conv.weight"].shape[-1],
            prenet_dim=state["decoder.prenet.layers.0.weight"].shape[0],
            postnet_n_convolution=len({k.split(".")[2] for k in state if k.startswith("postnet.convolutions.")}),
            postnet_embedding_dim=state["postnet.convolutions.0.0.weight"].shape[0],
        )
    except (KeyError, IndexError, AttributeError) as e:
        raise CheckpointError(f"not a Tacotron2 state dict (missing or odd {e})") from None


def _load_backbone(state: dict, frontend: Frontend, source: str, kind: str) -> AcousticModel:
    config = _config_from_backbone(state)
    model = EmotionTacotron2(config)
    try:
        model.backbone.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{source}: the weights do not fit a Tacotron2 ({e})") from None
    model.eval()
    if config.n_symbols < len(frontend.symbols):
        raise CheckpointError(f"{source}: {config.n_symbols} symbols, fewer than its text frontend's")
    return AcousticModel(model, frontend, version_of(state), {"source": str(source), "format": kind})


def load(source: str | Path) -> AcousticModel:
    """Load any supported checkpoint; CheckpointError says what is wrong with a bad one."""
    data = _read(source)
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: not a checkpoint (a {type(data).__name__})")
    if data.get("format") == FORMAT:
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise CheckpointError(f"{source}: made by a newer InsideOut (format {data['format_version']})")
        if list(data.get("emotions", [])) != list(EMOTION_IDS):
            raise CheckpointError(f"{source}: its emotion table {data.get('emotions')} is not InsideOut's")
        if data.get("mel") != asdict(MEL):
            raise CheckpointError(f"{source}: trained on other mel settings {data.get('mel')}")
        config = Tacotron2Config.from_dict(data["config"])
        speakers = tuple(data.get("speakers") or ())  # none before speakers existed
        if len(speakers) != config.n_speakers:
            raise CheckpointError(f"{source}: {len(speakers)} speaker names for {config.n_speakers} speakers")
        model = EmotionTacotron2(config)
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                   for k, v in data["state_dict"].items()})
        except RuntimeError as e:
            raise CheckpointError(f"{source}: the weights do not fit its config ({e})") from None
        model.eval()
        return AcousticModel(model, Frontend.from_dict(data["frontend"]), data["version"],
                             {**data.get("provenance", {}), "source": str(source)}, speakers)
    if "state_dict" in data and any(".linear_layer." in k for k in data["state_dict"]):
        return _load_backbone(_nvidia_to_torchaudio(data["state_dict"]), NVIDIA, str(source), "nvidia")
    if "embedding.weight" in data:
        return _load_backbone(data, TORCHAUDIO, str(source), "torchaudio")
    raise CheckpointError(f"{source}: not an InsideOut, torchaudio or NVIDIA Tacotron2 checkpoint")
