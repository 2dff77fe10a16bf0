"""The HTTP floor for benchmarks/serving.py: the same server stack as `featurestore serve` (FastAPI on
uvicorn with uvloop and httptools, orjson) answering the invocations route with a fixed body, with no
token check, lookup or model. Usage: python benchmarks/http_floor.py PORT"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
ANSWER = orjson.dumps({"predictions": [0.5], "model_version": "0", "lookup_misses": []})


@app.post("/serving-endpoints/{model}/invocations")
async def invocations(model: str, request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", access_log=False
    )
