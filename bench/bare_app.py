"""The baseline of the request benchmark: a bare FastAPI endpoint, served the same way oO is."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/recommend")
async def recommend() -> dict[str, object]:
    return {"decision_id": "00000000-0000-0000-0000-000000000000", "tip": None, "retry_after": 900}
