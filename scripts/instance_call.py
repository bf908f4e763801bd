"""Calls one block instance directly over the instance protocol (used by `make demo`).

    python scripts/instance_call.py ADDRESS infer '{"text": "hi"}' [SESSION]
    python scripts/instance_call.py ADDRESS health
"""
import json
import sys

import grpc

from aios_instance.proto import aios_instance_pb2 as pb
from aios_instance.proto import aios_instance_pb2_grpc as rpc


def main() -> int:
    address, method = sys.argv[1], sys.argv[2]
    with grpc.insecure_channel(address) as channel:
        stub = rpc.InstanceStub(channel)
        try:
            if method == "health":
                reply = stub.Health(pb.HealthRequest(), timeout=5)
                print(json.dumps({"status": reply.status, "details": json.loads(reply.details_json or "{}")}))
            else:
                request = pb.InferRequest()
                request.packet.session_id = sys.argv[4] if len(sys.argv) > 4 else "demo-session"
                request.packet.seq_no = 1
                request.packet.data = sys.argv[3]
                reply = stub.Infer(request, timeout=10)
                for output in reply.outputs:
                    print(output.data)
        except grpc.RpcError as error:
            print(f"error {error.code().name}: {error.details()}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
