"""MINIO_POLICY_HOOKS: give named buckets a policy of their own (settings.py excerpt).

Each entry is a (bucket_name, policy_dict) pair. It overrides the built-in policy
of that bucket (public-read for MINIO_PUBLIC_BUCKETS, none for private ones) and
is applied by ``python manage.py initialize_buckets`` and the on-start check.
"""

MINIO_PRIVATE_BUCKETS = ["django-backend-dev-private"]
MINIO_PUBLIC_BUCKETS = ["django-backend-dev-public"]

# Anonymous users may read objects under "shared/" of an otherwise private bucket.
SHARED_PREFIX_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::django-backend-dev-private/shared/*"],
        }
    ],
}

# A public bucket whose contents anonymous users may also list.
PUBLIC_LISTABLE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::django-backend-dev-public/*"],
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::django-backend-dev-public"],
        },
    ],
}

MINIO_POLICY_HOOKS: list[tuple[str, dict]] = [
    ("django-backend-dev-private", SHARED_PREFIX_READ),
    ("django-backend-dev-public", PUBLIC_LISTABLE),
]
