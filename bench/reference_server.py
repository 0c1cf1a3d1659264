"""The reference conan_server's configuration, shared by the benchmark (bench/compare.py) and
the remote project tests (tests/blackbox/test_remote_projects.py), which both run it on
loopback with one user allowed everything."""

REF_CONF = """[server]
jwt_secret: {secret}
jwt_expire_minutes: 600
ssl_enabled: False
port: {port}
public_port:
host_name: 127.0.0.1
authorize_timeout: 1800
disk_storage_path: {storage}
disk_authorize_timeout: 1800
updown_secret: {updown}

[write_permissions]
*/*@*/*: {user}

[read_permissions]
*/*@*/*: {user}

[users]
{user}: {password}
"""
