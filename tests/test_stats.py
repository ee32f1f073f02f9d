"""Read-only analytics over a real stocked library: tallies, agreement, confusion, pass rates, CSV."""

import csv
import io
import time

import krippendorff
import numpy as np
import pytest

from insideout import stats
from insideout.db import Vote
from insideout.emotions import EMOTION_IDS
from insideout.identity import network_of, pseudonym
from tests.helpers import answers

# Fleiss (1971) via Wikipedia's worked example: 10 subjects, 14 raters, 5 categories, kappa = 0.210.
FLEISS_EXAMPLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]



pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite, then on DynamoDB

def cast(services, clip_id, emotions, counted=True, start=0):
    """Votes of distinct voters, recorded without settling (so clips stay where they are)."""
    votes = [Vote(clip_id, f"voter{start + i}", e, counted, "labeling") for i, e in enumerate(emotions)]
    services.db.insert_votes(votes, time.time())


def cast_fleiss_example(services):
    """The example's 14 ratings per subject as votes on ten play clips (its categories: the first
    five emotions)."""
    for clip, row in zip(services.clip_ids["play"][:10], FLEISS_EXAMPLE, strict=True):
        cast(services, clip, [e for e, n in zip(EMOTION_IDS[:5], row, strict=True) for _ in range(n)])


def play_challenge(services, rights, client="203.0.113.9"):
    """One challenge answered round by round: True answers the control right, False wrong."""
    view = services.captcha.create(client)
    result = None
    for right in rights:
        result = services.captcha.answer(view.challenge_id, answers(services, view.challenge_id, right),
                                         client)
        if result.status != "retry":
            break
    return view.challenge_id, result


# -- pools and tallies -------------------------------------------------------------------------


def test_pool_sizes_count_the_library(stocked):
    assert stats.pool_sizes(stocked.db) == {"play": 16, "unverified": 4, "learning": 0, "retired": 0}


def test_the_tally_table_has_a_row_per_unverified_clip_with_flat_vote_columns(stocked):
    rows = stats.tally_table(stocked.consensus)
    assert [r["clip"] for r in rows] == stocked.clip_ids["unverified"]
    assert set(rows[0]) == set(stats.TALLY_COLUMNS)
    assert rows[0]["counted_votes"] == 0 and rows[0]["top"] is None


def test_the_tally_table_counts_only_counted_votes_and_names_the_top(stocked):
    clip = stocked.clip_ids["unverified"][0]
    cast(stocked, clip, ["sad", "sad", "calm"])
    cast(stocked, clip, ["happy"] * 5, counted=False, start=10)
    row = next(r for r in stats.tally_table(stocked.consensus) if r["clip"] == clip)
    assert (row["sad"], row["calm"], row["happy"], row["counted_votes"]) == (2, 1, 0, 3)
    assert row["top"] == "sad" and row["top_share"] == pytest.approx(2 / 3, abs=1e-4)


def test_the_tally_table_filters_by_pool_and_state(stocked):
    clip = stocked.clip_ids["unverified"][0]
    stocked.consensus.record([Vote(clip, f"v{i}", "sad", True, "labeling") for i in range(10)])
    learning = stats.tally_table(stocked.consensus, pool="learning")
    assert [(r["clip"], r["state"], r["label"]) for r in learning] == [(clip, "consensus", "sad")]
    assert clip not in [r["clip"] for r in stats.tally_table(stocked.consensus, state="open")]
    assert [r["clip"] for r in stats.tally_table(stocked.consensus, state="consensus")] == [clip]


def test_the_tally_table_sorts_by_votes_and_by_share(stocked):
    a, b, c, _ = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad", "calm"])
    cast(stocked, b, ["sad", "sad", "sad", "calm"])
    cast(stocked, c, ["happy"])
    assert [r["clip"] for r in stats.tally_table(stocked.consensus, sort="votes")][:3] == [b, a, c]
    assert [r["clip"] for r in stats.tally_table(stocked.consensus, sort="share")][:3] == [c, b, a]


@pytest.mark.parametrize("kwargs", [{"pool": "attic"}, {"state": "sure"}, {"sort": "random"}])
def test_the_tally_table_refuses_unknown_filters(stocked, kwargs):
    with pytest.raises(ValueError):
        stats.tally_table(stocked.consensus, **kwargs)


def test_the_consensus_queue_puts_clips_closest_to_a_decision_first(stocked):
    a, b, c, d = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad"] * 3)
    cast(stocked, b, ["sad"] * 7 + ["calm"])
    cast(stocked, c, ["sad"] * 4 + ["calm"] * 4)
    queue = stats.consensus_queue(stocked.consensus)
    assert [r["clip"] for r in queue] == [b, c, a, d]
    assert [r["votes_needed"] for r in queue] == [2, 2, 7, 10]


# -- agreement ---------------------------------------------------------------------------------


def test_agreement_without_votes_is_unknown(stocked):
    agreement = stats.agreement(stocked.db)
    assert agreement.fleiss_kappa is None and agreement.krippendorff_alpha is None
    assert agreement.alpha_votes == 0


def test_fleiss_kappa_matches_the_published_example(stocked):
    cast_fleiss_example(stocked)
    agreement = stats.agreement(stocked.db)
    assert agreement.fleiss_kappa == pytest.approx(0.210, abs=5e-4)
    assert (agreement.kappa_clips, agreement.kappa_raters) == (10, 14)


def test_krippendorff_alpha_matches_the_package_on_raw_ratings(stocked):
    cast_fleiss_example(stocked)
    # The same ratings as a raters x units matrix of category numbers.
    units = [[i for i, n in enumerate(row) for _ in range(n)] for row in FLEISS_EXAMPLE]
    expected = krippendorff.alpha(reliability_data=np.array(units, dtype=float).T,
                                  level_of_measurement="nominal")
    agreement = stats.agreement(stocked.db)
    assert agreement.krippendorff_alpha == pytest.approx(expected)
    assert (agreement.alpha_clips, agreement.alpha_votes) == (10, 140)


def test_perfect_agreement_scores_one(stocked):
    a, b, c, _ = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad"] * 4)
    cast(stocked, b, ["happy"] * 4)
    cast(stocked, c, ["angry"] * 4)
    agreement = stats.agreement(stocked.db)
    assert agreement.fleiss_kappa == pytest.approx(1.0)
    assert agreement.krippendorff_alpha == pytest.approx(1.0)


def test_kappa_uses_the_rater_count_that_keeps_most_ratings(stocked):
    a, b, c, d = stocked.clip_ids["unverified"]
    for clip in (a, b, c):
        cast(stocked, clip, ["sad", "sad", "calm"])
    cast(stocked, d, ["sad", "calm"])
    agreement = stats.agreement(stocked.db)
    assert (agreement.kappa_raters, agreement.kappa_clips) == (3, 3)
    assert (agreement.alpha_clips, agreement.alpha_votes) == (4, 11)


def test_votes_that_did_not_count_are_left_out_of_agreement(stocked):
    a, b, _, _ = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad", "sad"])
    cast(stocked, b, ["happy", "happy"])
    cast(stocked, a, ["calm"] * 6, counted=False, start=100)
    assert stats.agreement(stocked.db).krippendorff_alpha == pytest.approx(1.0)


# -- confusion ---------------------------------------------------------------------------------


def test_the_confusion_matrix_counts_votes_by_intended_emotion(stocked):
    clip = stocked.clip_ids["unverified"][1]  # intended: calm (the stock cycles the emotions)
    assert stocked.db.get_clip(clip)["intended_emotion"] == "calm"
    cast(stocked, clip, ["calm", "calm", "sad"])
    confusion = stats.confusion_matrix(stocked.db)
    calm, sad = EMOTION_IDS.index("calm"), EMOTION_IDS.index("sad")
    assert confusion.counts[calm][calm] == 2 and confusion.counts[calm][sad] == 1
    assert confusion.total == 3


def test_the_confusion_matrix_by_consensus_counts_decided_clips(stocked):
    clip = stocked.clip_ids["unverified"][1]  # intended: calm
    stocked.consensus.record([Vote(clip, f"v{i}", "sad", True, "labeling") for i in range(10)])
    confusion = stats.confusion_matrix(stocked.db, by="consensus")
    assert confusion.counts[EMOTION_IDS.index("calm")][EMOTION_IDS.index("sad")] == 1
    assert confusion.total == 1


def test_play_clips_without_an_intended_emotion_stay_out_of_the_confusion(stocked):
    cast(stocked, stocked.clip_ids["play"][0], ["sad"] * 3)
    assert stats.confusion_matrix(stocked.db).total == 0


# -- pass rates --------------------------------------------------------------------------------


def test_pass_rates_count_challenges_and_rounds(stocked):
    play_challenge(stocked, [True])
    play_challenge(stocked, [False, True])
    play_challenge(stocked, [False, False, False])
    stocked.captcha.create("203.0.113.10")  # left open
    rates = stats.pass_rates(stocked.db)
    assert (rates.challenges_passed, rates.challenges_failed, rates.challenges_open) == (2, 1, 1)
    assert rates.challenge_pass_rate == pytest.approx(2 / 3)
    assert (rates.rounds_answered, rates.rounds_passed) == (6, 2)
    assert rates.round_pass_rate == pytest.approx(2 / 6)


def test_pass_rates_without_answers_are_unknown(stocked):
    rates = stats.pass_rates(stocked.db)
    assert rates.challenge_pass_rate is None and rates.round_pass_rate is None


def test_pass_rate_by_round_number(stocked):
    play_challenge(stocked, [True])
    play_challenge(stocked, [False, True])
    rows = stats.pass_rate_by_round(stocked.db)
    assert [(r.key, r.rounds, r.passed) for r in rows] == [("1", 2, 1), ("2", 1, 1)]
    assert rows[0].rate == pytest.approx(0.5)


def test_pass_rate_by_emotion_follows_the_control_clip_label(stocked):
    cid, _ = play_challenge(stocked, [True])
    control = next(s for s in stocked.db.get_challenge(cid).slots if s.is_control)
    label = stocked.db.get_clip(control.clip_id)["label"]
    rows = stats.pass_rate_by_emotion(stocked.db)
    assert [r.key for r in rows] == list(EMOTION_IDS)
    assert {r.key: (r.rounds, r.passed) for r in rows if r.rounds} == {label: (1, 1)}
    assert all(r.rate is None for r in rows if r.key != label)


def test_pass_rate_over_time_has_a_series_per_round_and_one_for_all(stocked):
    play_challenge(stocked, [True])
    play_challenge(stocked, [False, False, False])
    points = stats.pass_rate_over_time(stocked.db, bucket_s=stats.DAY)
    series = {(p.round, p.rounds, p.passed) for p in points}
    assert series == {(1, 2, 1), (2, 1, 0), (3, 1, 0), (None, 4, 1)}
    assert len({p.period_start for p in points}) == 1
    assert points[0].period_start % stats.DAY == 0


def test_pass_rate_over_time_is_empty_before_any_answer(stocked):
    assert stats.pass_rate_over_time(stocked.db) == []


# -- policy and CSV ----------------------------------------------------------------------------


def test_the_policy_summary_gives_the_chance_a_guesser_passes(stocked):
    summary = stats.policy_summary(stocked.captcha)
    assert (summary.rounds_to_pass, summary.max_rounds, summary.choices) == (1, 3, 8)
    assert summary.chance_pass_probability == pytest.approx(1 - (7 / 8) ** 3)


def test_the_votes_csv_has_every_vote_and_why_it_did_not_count(stocked):
    clip = stocked.clip_ids["unverified"][0]
    cast(stocked, clip, ["sad"])
    play_challenge(stocked, [False, False, False])
    rows = list(csv.DictReader(io.StringIO(stats.votes_csv(stocked.db, stocked.settings.pseudonym_key))))
    assert tuple(rows[0]) == stats.VOTE_COLUMNS
    assert (rows[0]["clip_id"], rows[0]["emotion"], rows[0]["counted"]) == (str(clip), "sad", "1")
    assert {r["why_not_counted"] for r in rows[1:]} == {"control_wrong"}
    # the network a cap per network groups by, as a pseudonym
    assert {r["network"] for r in rows[1:]} == {pseudonym(stocked.settings.pseudonym_key, network_of("203.0.113.9"))}
    assert rows[0]["created_at"].endswith("+00:00")


def test_the_votes_csv_names_voters_by_a_keyed_pseudonym_never_their_address(stocked):
    play_challenge(stocked, [True], client="2001:db8:1:2::5")
    play_challenge(stocked, [False], client="203.0.113.9")
    text = stats.votes_csv(stocked.db, b"k" * 32)
    assert "2001:db8" not in text and "203.0.113" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["voter"] for r in rows} == {pseudonym(b"k" * 32, "2001:db8:1:2::5"), pseudonym(b"k" * 32, "203.0.113.9")}
    assert all(len(r["voter"]) == 16 for r in rows)
    assert stats.votes_csv(stocked.db, b"k" * 32) == text  # stable under one key
    assert stats.votes_csv(stocked.db, b"j" * 32) != text  # another key links nothing


def test_the_tallies_csv_matches_the_tally_table(stocked):
    cast(stocked, stocked.clip_ids["unverified"][0], ["sad", "calm"])
    rows = list(csv.DictReader(io.StringIO(stats.tallies_csv(stocked.consensus))))
    table = stats.tally_table(stocked.consensus)
    assert [int(r["clip"]) for r in rows] == [r["clip"] for r in table]
    assert (rows[0]["sad"], rows[0]["calm"], rows[0]["counted_votes"]) == ("1", "1", "2")


def test_statistics_change_nothing(stocked):
    cast(stocked, stocked.clip_ids["unverified"][0], ["sad"] * 12)  # a consensus not yet settled
    play_challenge(stocked, [True])
    before = stocked.db.clips(), stats.votes_csv(stocked.db, stocked.settings.pseudonym_key)
    stats.tally_table(stocked.consensus), stats.consensus_queue(stocked.consensus)
    stats.agreement(stocked.db), stats.confusion_matrix(stocked.db), stats.pass_rates(stocked.db)
    stats.pass_rate_over_time(stocked.db), stats.tallies_csv(stocked.consensus)
    assert (stocked.db.clips(), stats.votes_csv(stocked.db, stocked.settings.pseudonym_key)) == before


# -- what the dashboard says when it cannot compute --------------------------------------------


def test_agreement_without_votes_says_there_are_none(stocked):
    agreement = stats.agreement(stocked.db)
    assert (agreement.kappa_reason, agreement.alpha_reason) == (stats.NO_VOTES, stats.NO_VOTES)


def test_agreement_on_single_votes_says_no_clip_has_two(stocked):
    for clip in stocked.clip_ids["unverified"]:
        cast(stocked, clip, ["sad"])
    agreement = stats.agreement(stocked.db)
    assert agreement.fleiss_kappa is None and agreement.kappa_reason == stats.SINGLE_VOTES
    assert (agreement.counted_votes, agreement.voted_clips) == (4, 4)


def test_agreement_when_every_vote_names_one_emotion_says_so(stocked):
    a, b, _, _ = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad"] * 3)
    cast(stocked, b, ["sad"] * 2)
    agreement = stats.agreement(stocked.db)
    assert agreement.fleiss_kappa is None and agreement.kappa_reason == stats.NO_VARIATION
    assert agreement.krippendorff_alpha is None and agreement.alpha_reason == stats.NO_VARIATION


# -- rates with their intervals, and the time bins ----------------------------------------------


def test_every_rate_has_the_wilson_interval_of_its_counts(stocked):
    play_challenge(stocked, [True])
    play_challenge(stocked, [False, True])
    first, second = stats.pass_rate_by_round(stocked.db)
    # Wilson 95 % by hand: 1 of 2 -> 0.5 -+ 0.4055; 1 of 1 -> (0.2065, 1).
    assert first.interval == pytest.approx((0.0945, 0.9055), abs=1e-4)
    assert second.interval == pytest.approx((0.2065, 1.0), abs=1e-4)
    missing = [r for r in stats.pass_rate_by_emotion(stocked.db) if not r.rounds]
    assert missing and all(r.rate is None and r.interval is None for r in missing)


@pytest.mark.parametrize(("span", "bucket"), [(0, 60), (47 * 60, 60), (48 * 60, 300), (stats.DAY, stats.HOUR),
                                              (3 * stats.DAY, 6 * stats.HOUR), (30 * stats.DAY, stats.DAY),
                                              (365 * stats.DAY, 7 * stats.DAY)])
def test_the_time_bin_keeps_at_most_48_periods(span, bucket):
    assert stats.time_bin(span) == bucket


def test_the_issues_four_series_in_one_period_are_four_points(stocked):
    for i in range(6):
        play_challenge(stocked, [True], client=f"203.0.113.{20 + i}")
    play_challenge(stocked, [False, False, False])
    over = stats.over_time(stocked.db)
    assert over.bucket_s == 60
    assert {(p.round, p.passed, p.rounds) for p in over.points} == {(1, 6, 7), (2, 0, 1), (3, 0, 1), (None, 6, 9)}


# -- the summary --------------------------------------------------------------------------------


def test_the_summary_counts_votes_today_near_consensus_and_the_model(stocked):
    a, b, _, _ = stocked.clip_ids["unverified"]
    cast(stocked, a, ["sad"] * 9)  # one more sad vote settles it
    cast(stocked, b, ["sad"] * 3)
    yesterday = [Vote(b, "late", "calm", True, "labeling")]
    stocked.db.insert_votes(yesterday, time.time() - 2 * stats.DAY)
    summary = stats.summary(stocked.db, stocked.consensus, stocked.captcha)
    assert (summary.votes, summary.counted_votes, summary.votes_today) == (13, 13, 12)
    assert summary.near_consensus == 1
    assert summary.pools["unverified"] == 4 and summary.model_id is None and summary.running_jobs == ()
    assert summary.policy.chance_pass_probability == pytest.approx(1 - (7 / 8) ** 3)


# -- Dawid-Skene beside majority vote ---------------------------------------------------------


def vote_as(services, clip_id, voters_and_emotions):
    services.db.insert_votes([Vote(clip_id, voter, e, True, "labeling") for voter, e in voters_and_emotions],
                             time.time())


def test_dawid_skene_rates_reliable_voters_above_one_who_always_says_angry(stocked):
    clips = stocked.clip_ids["play"][:8]
    for clip, emotion in zip(clips, EMOTION_IDS, strict=True):
        vote_as(stocked, clip, [("good1", emotion), ("good2", emotion), ("good3", emotion), ("angry", "angry")])
    view = stats.dawid_skene(stocked.db.counted_votes(), stocked.settings.pseudonym_key)
    assert (view.clips, view.votes, view.voters, view.reason) == (8, 32, 4, None)
    quality = {q.voter: q.quality for q in view.voter_quality}
    key = stocked.settings.pseudonym_key
    assert quality[pseudonym(key, "angry")] < 0.5 < min(quality[pseudonym(key, f"good{i}")] for i in (1, 2, 3))
    assert "good1" not in repr(view)  # voters by pseudonym only
    assert view.agree == 8 and view.disagreements == ()


def test_dawid_skene_overrules_a_majority_of_unreliable_voters(stocked):
    clips = stocked.clip_ids["play"]
    for clip, emotion in zip(clips[:8], EMOTION_IDS, strict=True):  # calibration: who is reliable
        vote_as(stocked, clip, [("good1", emotion), ("good2", emotion), ("good3", emotion),
                                ("bad1", "angry"), ("bad2", "angry")])
    vote_as(stocked, clips[8], [("good1", "sad"), ("bad1", "angry"), ("bad2", "angry")])
    view = stats.dawid_skene(stocked.db.counted_votes(), stocked.settings.pseudonym_key)
    (overruled,) = view.disagreements
    assert (overruled.clip, overruled.majority, overruled.label) == (clips[8], "angry", "sad")
    assert overruled.majority_share == pytest.approx(2 / 3) and overruled.probability > 0.5


def test_dawid_skene_says_why_it_was_not_computed(stocked):
    key = stocked.settings.pseudonym_key
    assert stats.dawid_skene([], key).reason == stats.NO_VOTES
    assert stats.dawid_skene([(1, "a", "sad"), (2, "b", "sad")], key).reason == stats.SINGLE_VOTES
    assert stats.dawid_skene([(1, "a", "sad"), (1, "a", "calm")], key).reason == stats.ONE_VOTER


def test_the_new_counts_agree_on_both_backends(stocked):
    a, b, _, _ = stocked.clip_ids["unverified"]
    cast(stocked, b, ["calm", "sad"])
    cast(stocked, a, ["happy"], start=5)
    cast(stocked, a, ["angry"], counted=False, start=9)
    assert stocked.db.counted_votes() == [(a, "voter5", "happy"), (b, "voter0", "calm"), (b, "voter1", "sad")]
    assert stocked.db.vote_totals(0) == (4, 3, 4)
    assert stocked.db.vote_totals(time.time() + 60) == (4, 3, 0)
