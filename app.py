"""python app.py → the Style Transfer Studio at http://127.0.0.1:8050 (HOST and PORT from the environment).

For gunicorn:
    gunicorn --workers 1 --threads 8 --bind 0.0.0.0:8050 app:server     # embedded backend: jobs live here
    STUDIO_REDIS_URL=redis://… STUDIO_SECRET_KEY=… gunicorn --workers 4 --threads 8 … app:server
                                                                         # Redis + Celery: any number
"""
import os

from styletransfer.web import create_app

app = create_app()
server = app.server

if __name__ == "__main__":
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", 8050))
    print(f"Style Transfer Studio on http://{host}:{port}/ (device: {app.studio_manager.devices[0]})", flush=True)
    app.run(host=host, port=port, debug=False, threaded=True)
