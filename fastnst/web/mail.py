"""The e-mail sent when a job ends (SMTP settings of fastnst.web.web_config.WebConfig)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from fastnst.web.jobs.queue import TRAIN, JobRecord
from fastnst.web.web_config import WebConfig

SMTP_TIMEOUT = 20.0  # seconds; a dead mail server must not hold a worker for long


def job_mail(config: WebConfig, record: JobRecord) -> EmailMessage:
    """The message telling record.email that the job ended, with the job page's link."""
    message = EmailMessage()
    message["From"] = config.mail_from
    message["To"] = record.email
    training = record.algorithm == TRAIN
    message["Subject"] = (f"Your fastnst {'training' if training else record.algorithm} job "
                          f"is {record.status}")
    link = f"{config.site_url}/jobs/{record.id}"
    ready = ("Your model is ready: pick it on the Stylize page or in the live camera."
             if training else "Your image is ready.")
    outcome = {"done": ready,
               "failed": f"It failed: {record.error}."}.get(record.status, "It ended.")
    message.set_content(f"{outcome}\n\nSee it and download it at {link}\n\n-- fastnst\n")
    return message


def send_job_mail(config: WebConfig, record: JobRecord) -> None:
    """Send job_mail through the configured SMTP server (STARTTLS and login when set).

    Raises OSError (smtplib's errors included) when the server cannot be reached or refuses.
    """
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        if config.smtp_starttls:
            smtp.starttls()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password)
        smtp.send_message(job_mail(config, record))
