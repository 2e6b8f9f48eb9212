"""A Moobius user-mode client for tests/python_interop.rs.

Run with the working directory holding config/config.json, whose
service_config has "service_mode": false and lists one channel. At start-up
the SDK signs in as that user and, since the user is not yet a member of the
channel, sends a `join_channel` action for it (docs/PROTOCOL.md 5.3); after that
it only listens. It adds no behaviour of its own: the SDK's parser of inbound
character updates is broken (docs/PROTOCOL.md 9.3), so the test reads
what this user sees from the sandbox, not from here.
"""
from moobius import Moobius, MoobiusWand


class UserClient(Moobius):
    pass


if __name__ == "__main__":
    MoobiusWand().run(UserClient, config="config/config.json")
