"""The ``strata`` command: ``ais``-like verbs over the official SDK, plus the daemons' entry points.

``main`` builds the argument tree (``strata ls|put|get|create|bucket|object|show|job|cluster|...``);
``buckets``, ``objects`` and ``nodes`` run the verbs; ``progress`` draws progress for long work;
``connection`` finds the endpoint (``--endpoint``, ``AIS_ENDPOINT``); ``errors`` turns SDK errors
into one clear line. ``strata serve``, ``strata proxy`` and ``strata target`` start the daemons
(``strata.daemons``); ``strata cluster up|down`` runs a local dev cluster on etcd.
"""
