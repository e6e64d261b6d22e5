"""One custom-style job's life, in one room: the site submits and describes it (`board`), the
queue keeps it and its record (`queue`: Huey, SQLite or Redis), a worker process takes it
(`worker`) and runs it (`runner`: the slow optimiser or photorealistic transfer; `training`:
training a fast model), reporting steps and previews and stopping when cancelled
(`progress`). The board's refusals (`errors`) are its own exceptions, not HTTP ones.
"""
