"""The three pools of the clip library, the one list of them (the settings name an S3 place per pool, the
metadata store checks a clip's pool against it).

- play: clips with a trusted label, the scored (control) clips of a challenge;
- unverified: clips whose label the crowd has yet to agree on (an intended emotion is recorded, never trusted);
- learning: crowd-verified clips waiting for the next fine-tune.
"""

POOLS = ("play", "unverified", "learning")
