"""P3's baseline: sign and POST `count` webhooks to `url` in a plain loop, one process, no
database. `bench/run.py` starts it as `python -m bench.signing_loop URL COUNT`, once or twice
side by side; it prints when its first post started and its last one ended (epoch seconds), so
that the baseline is timed like the drain it is compared with, start-up left out."""

import sys
import time

import requests

from webhooks.pipeline.signing import new_secret, sign


def post_signed(url: str, count: int) -> None:
    session = requests.Session()
    secret = new_secret()
    body = b'{"type": "bench"}'
    started = time.time()
    for number in range(count):
        signature = sign(secret=secret, msg_id=str(number), timestamp=int(time.time()), body=body)
        session.post(url, data=body, headers={"webhook-signature": signature})
    print(started, time.time())


if __name__ == "__main__":
    post_signed(sys.argv[1], int(sys.argv[2]))
