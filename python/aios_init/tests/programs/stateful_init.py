"""create writes a token into state_dir and returns it; remove checks both the file and create_result."""

import uuid

from aios_init import InitContext, execute_init_container


class StatefulInit:
    def __init__(self, context: InitContext) -> None:
        self.context = context
        self.token_file = context.state_dir / "token.txt"

    def begin(self):
        return True, None

    def main(self):
        if self.context.is_create:
            token = uuid.uuid4().hex
            self.token_file.write_text(token)
            return True, {"written": str(self.token_file)}
        if not self.token_file.exists():
            return False, f"no token file in {self.context.state_dir}"
        return True, {"read": self.token_file.read_text()}

    def finish(self):
        if self.context.is_create:
            return True, {"token": self.token_file.read_text(), "server_url": "http://127.0.0.1:1"}
        file_token = self.token_file.read_text()
        result_token = (self.context.create_result or {}).get("token")
        self.token_file.unlink()
        return True, {"file_token": file_token, "result_token": result_token, "match": file_token == result_token}


if __name__ == "__main__":
    execute_init_container(StatefulInit)
