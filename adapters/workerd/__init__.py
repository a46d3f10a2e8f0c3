"""The workerd adapter: Cloudflare's own runtime, driven through a Worker over WebSockets."""
