"""Copies code/*.js into the Code nodes of the workflow JSON files.

The JavaScript of each Code node is kept in code/<name>.js, where it reads
and diffs as code; go test ./examples (TestN8n) fails while a workflow's
jsCode differs from its file. After editing a file: python3 sync_code.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# workflow file -> {Code node name: code file}
NODES = {
    "flowbus-orchestrator.json": {"Verify and decide": "verify-and-decide.js", "Check the answer": "check-answer.js"},
    "flowbus-publish.json": {"Build events": "build-events.js", "Check the answer": "check-answer.js"},
}


def main():
    for wf_file, nodes in NODES.items():
        path = os.path.join(HERE, wf_file)
        with open(path, encoding="utf-8") as f:
            wf = json.load(f)
        for node in wf["nodes"]:
            if node["name"] in nodes:
                with open(os.path.join(HERE, "code", nodes[node["name"]]), encoding="utf-8") as f:
                    node["parameters"]["jsCode"] = f.read()
        with open(path, "w", encoding="utf-8") as f:
            json.dump(wf, f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
