"""The provider sandbox (sandbox/), tested over real HTTP, one module per concern."""
