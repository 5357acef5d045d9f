"""Segment's Python library (segment-analytics-python, from PyPI), configured as a website's
backend would be, but with Colloquy's ingest as its host: a visitor's page, conversation,
messages, CTA click, contact form and identification, an event Colloquy does not use, and a
group call.

Run by tests/tests/stack/segment_sdks.rs, which gives the host (a proxy in front of ingest that
answers the first batch with a 503, so the library retries it), the write key and the
conversation in the environment. Exits non-zero when the library reports an error.
"""

import os
import sys
from datetime import datetime, timedelta, timezone

from segment.analytics import Client

errors = []
client = Client(
    os.environ["COLLOQUY_WRITE_KEY"],
    host=os.environ["COLLOQUY_SEGMENT_HOST"],
    gzip=True,
    max_retries=5,
    on_error=lambda error, batch: errors.append(repr(error)),
)
conversation = os.environ["COLLOQUY_CONVERSATION"]
user = "sdk-user-1"
# When each call happened, a second apart, as a backend logging a chat would say.
start = datetime.now(tz=timezone.utc) - timedelta(seconds=30)
at = iter(start + timedelta(seconds=i) for i in range(100))

client.page(
    user, name="Pricing", timestamp=next(at),
    properties={"conversation_id": conversation, "url": "https://shop.example/pricing"},
)
client.track(user, "Conversation Started", {"conversation_id": conversation}, timestamp=next(at))
client.track(
    user, "Message Sent", {"conversation_id": conversation, "sender": "user", "text": "Do you ship to Norway?"},
    timestamp=next(at),
)
client.track(
    user, "Message Sent",
    {"conversation_id": conversation, "sender": "bot", "text": "Yes, in 3 days.", "response_time_ms": 900},
    timestamp=next(at),
)
client.track(user, "CTA Clicked", {"conversation_id": conversation, "label": "Book a demo"}, timestamp=next(at))
client.track(
    user, "Contact Submitted",
    {"conversation_id": conversation, "name": "Grace Hopper", "email": "grace@example.com", "message": "Please call me"},
    timestamp=next(at),
)
client.identify(
    user,
    {"email": "grace@example.com", "phone": "+1 202 555 0100", "firstName": "Grace", "lastName": "Hopper",
     "conversation_id": conversation},
    timestamp=next(at),
)
client.track(user, "Order Completed", {"conversation_id": conversation, "revenue": 10}, timestamp=next(at))
client.group(user, "acme", timestamp=next(at))
client.flush()
client.shutdown()

if errors:
    print("the library reported errors:", errors)
    sys.exit(1)
