"""The web app, from a source checkout: the same as `assistant serve` (assistant/server.py).

Run: python app.py [--host 127.0.0.1] [--port 7860].
"""
import sys

from assistant.server import build_app, main  # noqa: F401 - build_app for scripts that import it from here

if __name__ == "__main__":
    sys.exit(main())
