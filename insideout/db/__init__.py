"""The metadata store: the Metadata interface the engine uses, and its SQLite implementation (the DynamoDB one,
dynamodb.py with its dynamo_* modules, is imported only when INSIDEOUT_METADATA=dynamodb asks for it).

One module per section (clips, challenges with rounds, slots and tokens, votes, jobs, model versions,
bot lab evaluations, dashboard analytics) holds that section's queries as plain functions over a
connection; schema holds the migrations and the connections; sqlite.Database ties them together behind
Metadata. Callers import from here, as they did when this was one module.
"""

from .challenges import CHALLENGE_FAILED, CHALLENGE_OPEN, CHALLENGE_PASSED, CHALLENGE_STATES
from .jobs import JOB_ACTIVE, JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, JOB_STATES
from .models import MODEL_CANCELLED, MODEL_EVALUATED, MODEL_FAILED, MODEL_STATES, MODEL_TRAINED, MODEL_TRAINING
from .protocol import Metadata
from .records import POOLS, Challenge, Conflict, RoundSlot, Slot, Vote
from .schema import MIGRATIONS, SCHEMA_VERSION
from .sqlite import Database

__all__ = [
    "CHALLENGE_FAILED", "CHALLENGE_OPEN", "CHALLENGE_PASSED", "CHALLENGE_STATES",
    "JOB_ACTIVE", "JOB_CANCELLED", "JOB_DONE", "JOB_FAILED", "JOB_QUEUED", "JOB_RUNNING", "JOB_STATES",
    "MIGRATIONS", "MODEL_CANCELLED", "MODEL_EVALUATED", "MODEL_FAILED", "MODEL_STATES", "MODEL_TRAINED",
    "MODEL_TRAINING", "POOLS", "SCHEMA_VERSION",
    "Challenge", "Conflict", "Database", "Metadata", "RoundSlot", "Slot", "Vote",
]
