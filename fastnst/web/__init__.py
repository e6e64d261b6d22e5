"""The style-transfer web site: `fastnst-web` (see fastnst.web.app for the wiring).

Folders and modules: config (settings), app (the ASGI app), site (shared state), api / pages /
camera (routes), styles (models), gallery, queue (Huey and job records), board (the site's
side of jobs), jobs (running one on a worker), worker, mail, images, limits, security;
templates/ and static/ are the pages' HTML, JavaScript and CSS.
"""
