"""The HTTP/1.1 transport, and nothing else: it knows requests, responses and connections, not Strata.

``http.py`` parses requests with httptools on uvloop, streams bodies into an ``Exchange`` the
application gives it, and sends answers -- bytes, a file region with ``sendfile``, or a stream. The
application (``strata.daemons.app.NodeApp``) decides what a request means; the transport imports
nothing of Strata's but the error tree.
"""
