"""wordcount: an AIOS-style block served by aios_instance.

Input packet data: {"text": "...", "stream": false}
Output: {"words": n, "chars": m, "top": [{"word": w, "count": c}, ...], "session_requests": k}
With "stream": true, InferStream gets one reply per word ({"index": i, "word": w}) and then the summary.

Parameters (componentParameters / UpdateParameters): top_k (int >= 1), lowercase (bool).
Management actions: "reset" (all sessions, or {"session_id": ...}), "stats".

The runtime starts it as `python3 block.py` in this directory (component.json "runtime"); that python3 needs
the SDK: `pip install -e python/aios_instance` (from the repository root).
"""

import json
import logging
import re
import threading
from collections import Counter

from aios_instance import Block, OnDataResult, PreProcessResult

log = logging.getLogger("wordcount")

WORD = re.compile(r"[\w']+")


class WordCountBlock:
    def __init__(self, context):
        self.context = context
        self.lock = threading.Lock()
        self.total_requests = 0
        self.top_k, self.lowercase = self._settings(context.block_init_parameters)
        log.info("wordcount ready: block=%s instance=%s top_k=%d lowercase=%s",
                 context.block_id, context.instance_id, self.top_k, self.lowercase)

    @staticmethod
    def _settings(params):
        top_k = params.get("top_k", 3)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        lowercase = params.get("lowercase", True)
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be a boolean, got {lowercase!r}")
        return top_k, lowercase

    def on_preprocess(self, packet):
        try:
            data = json.loads(packet.data)
        except ValueError as e:
            return False, f"packet data must be JSON like {{\"text\": \"...\"}}: {e}"
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return False, "packet data must be a JSON object with a string field \"text\""
        entry = PreProcessResult(packet=packet, extra_data={"text": data["text"], "stream": bool(data.get("stream"))})
        return True, [entry]

    def on_data(self, preprocessed_entry):
        text = preprocessed_entry.extra_data["text"]
        words = WORD.findall(text.lower() if self.lowercase else text)
        counts = Counter(words)

        session = self.context.sessions.get_or_create(preprocessed_entry.session_id)
        with self.lock:
            self.total_requests += 1
            session["requests"] = session.get("requests", 0) + 1
            session_requests = session["requests"]

        summary = {
            "words": len(words),
            "chars": len(text),
            "top": [{"word": w, "count": c} for w, c in counts.most_common(self.top_k)],
            "session_requests": session_requests,
        }
        if preprocessed_entry.extra_data["stream"]:
            return True, OnDataResult(output=self._stream(words, summary))
        return True, OnDataResult(output=summary)

    @staticmethod
    def _stream(words, summary):
        for i, word in enumerate(words):
            yield {"index": i, "word": word}
        yield summary

    def health(self):
        return {"status": "healthy", "total_requests": self.total_requests, "sessions": len(self.context.sessions)}

    def management(self, action, data):
        if action == "reset":
            session_id = (data or {}).get("session_id")
            with self.lock:
                if session_id:
                    cleared = 1 if self.context.sessions.delete(session_id) else 0
                else:
                    cleared = self.context.sessions.clear()
                    self.total_requests = 0
            self.context.events.push_event("reset", {"sessions_cleared": cleared})
            return {"reset": True, "sessions_cleared": cleared}
        if action == "stats":
            return {"total_requests": self.total_requests, "sessions": len(self.context.sessions),
                    "top_k": self.top_k, "lowercase": self.lowercase}
        return False, f"unknown management action {action!r} (supported: reset, stats)"

    def on_update(self, params):
        try:
            # The SDK has already merged params into context.block_init_parameters.
            top_k, lowercase = self._settings(self.context.block_init_parameters)
        except ValueError as e:
            return False, str(e)
        self.top_k, self.lowercase = top_k, lowercase
        return True, {"top_k": top_k, "lowercase": lowercase}


if __name__ == "__main__":
    Block(WordCountBlock).run()
