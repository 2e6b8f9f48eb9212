"""A user-mode bot on the Python SDK for tests/user_mode.rs's parity test.

It behaves as the Rhai bot there does: the SDK joins the configured channel
at start-up; a message "ping lol~" is answered with "pong" to its sender; a
message "leave lol~" makes the bot leave the channel.
"""
import asyncio
from moobius import Moobius


class PingUser(Moobius):
    async def on_message_down(self, message):
        text = message.content.text
        if text == "ping lol~":
            await self.send_message("pong", message.channel_id, self.client_id, [message.sender])
        elif text == "leave lol~":
            await self.send_leave_channel(message.channel_id)


asyncio.run(PingUser(config="config/config.json").start())
