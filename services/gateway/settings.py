from ipaddress import ip_address

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    local_mode: bool = Field(
        default=True,
        description="Serve one local user without login, on loopback only; off: every request needs a token.",
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Largest request body accepted.")

    def bind_problem(self) -> str | None:
        """Why the server must not listen where asked, or None."""
        if self.local_mode and not self.binds_loopback():
            return (
                f"OO_HOST={self.host!r} is not a loopback address, and local mode (OO_LOCAL_MODE=true) serves "
                "anyone who can connect as the local user without login. Bind 127.0.0.1, or set "
                "OO_LOCAL_MODE=false so that every request needs a personal API token."
            )
        return None

    def binds_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ip_address(self.host).is_loopback
        except ValueError:
            return False
