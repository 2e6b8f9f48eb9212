"""A Moobius user-mode client for tests/sandbox_python_sdk.rs: at start-up the
SDK joins the one channel in config/config.json; then it says "hello"."""
import asyncio, json
from moobius import Moobius

CHANNEL = json.load(open("config/config.json"))["service_config"]["channels"][0]

class User(Moobius):
    async def on_start(self):
        await self.send_message("hello", channel_id=CHANNEL, recipients=[self.client_id])

asyncio.run(User(config="config/config.json").start())
