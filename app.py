"""python app.py → the Style Transfer Studio at http://127.0.0.1:8050 (HOST and PORT from the environment).

For gunicorn, the factory builds the studio in each serving process (importing this file starts nothing):
    gunicorn --workers 1 --threads 8 --bind 0.0.0.0:8050 'app:create_app()'    # embedded: jobs live here
    STUDIO_REDIS_URL=redis://… STUDIO_SECRET_KEY=… gunicorn --workers 4 --threads 8 … 'app:create_app()'
                                                                               # Redis + Celery: any number
Installed as a package, the same is ``style-studio`` and ``gunicorn 'styletransfer.studio:wsgi_app()'``.
"""
import sys

from styletransfer.studio import main
from styletransfer.studio import wsgi_app as create_app  # noqa: F401 — gunicorn's 'app:create_app()'

if __name__ == "__main__":
    sys.exit(main())
