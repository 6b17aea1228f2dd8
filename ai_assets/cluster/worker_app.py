"""The Celery app a worker runs (`ai-assets worker`): dagster-celery's, with the broker and result
store from the environment. Its task runs a step of any run sent to the queues it listens to."""

import kombu.transport.sqlalchemy
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from ai_assets.cluster.celery import broker_settings, declare_queues

# The SQLAlchemy transport polls its table for messages once a second and takes no setting for it
# (its transport options go to create_engine): a step waiting a second before it starts, ten times a run, adds up.
kombu.transport.sqlalchemy.Transport.polling_interval = 0.1

app = make_app()
app.conf.update(broker_settings(), worker_redirect_stdouts=False)
declare_queues(app.conf.broker_url)
execute_plan = create_task(app)
