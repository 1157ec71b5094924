"""The Flyte cache service (flyteidl2.cacheservice.v2): the cache key of a task execution (`keys`, pure) and the
client that looks entries up, copies a hit's outputs into place and writes entries back (`client`)."""
