"""Strata's S3 front: boto3, awscli and s3fs talk to the same store as the AIS ``/v1`` API.

The public surface is the application object the HTTP router delegates to (see ``app``).
"""

from strata.s3.app import S3Application

__all__ = ["S3Application"]
