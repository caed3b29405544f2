"""The Redis side of dispatch: priority queues, delayed set, running slots.

Redis is an index that can be rebuilt from the BackgroundJob objects at any
time; it never holds the only copy of anything.
"""

from bgjobs.queue.redis_queue import Dispatched, RedisQueue
from bgjobs.vocabulary import Keys

__all__ = ["Dispatched", "Keys", "RedisQueue"]
