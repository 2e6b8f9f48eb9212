# service.py
from moobius import Moobius, MoobiusWand, types


class ZeroService(Moobius):
    async def before_channel_init(self):
        self.meow = await self.create_agent(name='Meow', avatar='resources/avatar.png')
        self.members = {}

    async def on_channel_checkin(self, channel_id):
        await self.sync_channel(channel_id)

    async def on_refresh(self, action):
        await self.send_member_view(action.channel_id, action.sender)

    async def on_join(self, action):
        await self.sync_channel(action.channel_id)

    async def on_leave(self, action):
        await self.sync_channel(action.channel_id)

    async def sync_channel(self, channel_id):
        self.members[channel_id] = await self.fetch_member_ids(channel_id)

        for member_id in self.members[channel_id]:
            await self.send_member_view(channel_id, member_id)

    async def send_member_view(self, channel_id, member_id):
        characters = [self.meow] + self.members[channel_id]
        ind = characters.index(member_id)  # find the recipient
        payload = [member_id] + characters[:ind] + characters[ind + 1:]

        await self.send_characters(characters=payload, channel_id=channel_id, recipients=member_id)


if __name__ == "__main__":
    MoobiusWand().run(ZeroService, config='config/config.json')
