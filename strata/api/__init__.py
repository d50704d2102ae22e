"""The AIS ``/v1`` front: the REST API the official ``aistore`` SDK and the ``ais`` CLI speak.

Protocol only. ``router`` splits ``/v1/<resource>/...`` with a dictionary lookup (no framework stack)
and streams PUT bodies; ``objects`` and ``archives`` parse object requests and shape their answers
around one call each to the object service (``strata.objects``); ``buckets`` and ``cluster`` parse
bucket, cluster and daemon requests and hand what depends on the node's role to that role
(``strata.roles``); ``responses`` gives every failure AIStore's error JSON.
"""
