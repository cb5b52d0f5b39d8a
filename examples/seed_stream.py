# The design document's Python streaming example (reference/astron-chat-interface.zh.md), unchanged
# but for where it points: the local demo server, app "demo-app", bot "demo-bot".
import os
import requests
import json
from typing import Generator

def chat_completion_stream(
    url: str,
    app_id: str,
    bot_id: str,
    user_input: str,
    user_id: str = "default_user"
) -> Generator[dict, None, None]:
    headers = {
        "x_consumer_username": app_id,
        "Content-Type": "application/json"
    }

    data = {
        "bot_id": bot_id,
        "uid": user_id,
        "stream": True,
        "parameters": {
            "messages": [{"role": "user", "content": user_input}]
        }
    }

    with requests.post(
        url,
        headers=headers,
        json=data,
        stream=True,
        timeout=(30, 600)
    ) as response:
        response.raise_for_status()

        for line in response.iter_lines():
            if line:
                line_str = line.decode('utf-8')
                if line_str.startswith('data: '):
                    try:
                        data = json.loads(line_str[6:])
                        yield data
                    except json.JSONDecodeError:
                        print(f"解析错误: {line_str}")

url = os.environ.get("ASTRON_URL", "http://localhost:8000") + "/agent/v1/chat/completions"
app_id = "demo-app"
bot_id = "demo-bot"

for chunk in chat_completion_stream(url, app_id, bot_id, "你好"):
    if 'choices' in chunk and chunk['choices']:
        content = chunk['choices'][0]['delta'].get('content', '')
        print(content, end='', flush=True)
