"""S3 access for model data and transform jobs: the client built from the standard AWS
configuration (plus optional INFERPIPE_S3_* settings), s3:// URIs, streaming reads and writes.

Part of the shared bottom: it imports no subsystem, so both containers/ (model data) and batch/
(transform inputs and outputs) use it.

The client is boto3's, called from worker threads (the API here is synchronous; async callers wrap
it in `asyncio.to_thread`). Measured against moto's server on this machine, a 256 MiB object:
boto3 `get_object` streamed in 1 MiB chunks 0.90 s, obstore's stream 0.96 s, boto3's threaded
`download_file` 9.6 s (moto answers each ranged GET slowly), `aws s3 cp`'s path. aioboto3 pins
botocore to an older release than the one the daemon already needs (pip resolved 1.40.61 beside
1.44.8), and obstore reads neither profiles nor the shared config files, so neither earns its place:
boto3 honours every standard source (environment, shared files, profiles, AWS_ENDPOINT_URL_S3).
"""
