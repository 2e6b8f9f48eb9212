"""A minimal Moobius service for tests/sandbox_python_sdk.rs: an agent "Meow";
on refresh it sends the member list plus Meow and a "welcome" message; it
echoes every message back as "echo: <text>" to its sender."""
import asyncio
from moobius import Moobius

class Svc(Moobius):
    async def before_channel_init(self):
        self.agent = await self.create_agent("Meow", description="a cat")

    async def on_refresh(self, action):
        members = await self.fetch_member_ids(action.channel_id)
        await self.send_characters(characters=members + [self.agent.character_id],
                                   channel_id=action.channel_id, recipients=[action.sender])
        await self.send_message("welcome", channel_id=action.channel_id,
                                sender=self.agent.character_id, recipients=[action.sender])

    async def on_message_up(self, message):
        await self.send_message("echo: " + message.content.text, channel_id=message.channel_id,
                                sender=self.agent.character_id, recipients=[message.sender])

asyncio.run(Svc(config="config/config.json").start())
