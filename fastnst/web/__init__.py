"""The style-transfer web site: `fastnst-web` (see fastnst.web.app for the wiring).

Folders and modules: config (settings), app (the ASGI app), site (shared state), api / pages /
camera (routes), training_api (training jobs' routes), styles (models), trained (models that
training jobs made), gallery, mail, images, limits, security, openapi and schemas (the API
document); jobs/ is one job's whole life (board: the site's side, errors: its refusals, queue:
Huey and job records, worker, runner and training: running one, progress); templates/ and
static/ are the pages' HTML, JavaScript and CSS.
"""
