"""Configuration of scheduled jobs (composed by ``bot.config``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JobsConfig(BaseModel):
    """Cron schedules (crontab syntax, UTC) of the scheduled jobs."""

    enabled: bool = Field(default=True, description="Run the scheduler inside `serve`.")
    forecast_cron: str = Field(default="*/30 * * * *", description="Capacity forecasts.")
    anomaly_cron: str = Field(default="*/5 * * * *", description="Anomaly detection.")
    digest_cron: str = Field(default="0 9 * * mon", description="Weekly insight digest.")
    timezone: str = Field(default="UTC", description="Timezone of the cron expressions.")
