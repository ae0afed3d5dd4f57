"""python app.py → the Style Transfer Studio at http://127.0.0.1:8050 (HOST and PORT from the environment).

For gunicorn (one process: jobs live in it; threads serve requests):
    gunicorn --workers 1 --threads 8 --bind 0.0.0.0:8050 app:server
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
