# The design document's Python non-streaming example (reference/astron-chat-interface.zh.md), unchanged
# but for where it points: the local demo server, app "demo-app", bot "demo-bot".
import os
import json
import requests

def chat_completion_non_stream(
    url: str,
    app_id: str,
    bot_id: str,
    user_input: str,
    user_id: str = "default_user"
) -> dict:
    """
    发起非流式聊天完成请求
    """
    headers = {
        "x_consumer_username": app_id,
        "Content-Type": "application/json"
    }

    data = {
        "bot_id": bot_id,
        "uid": user_id,
        "stream": False,
        "parameters": {
            "messages": [{"role": "user", "content": user_input}]
        }
    }

    response = requests.post(
        url,
        headers=headers,
        json=data,
        timeout=(30, 600)
    )

    response.raise_for_status()
    return response.json()

url = os.environ.get("ASTRON_URL", "http://localhost:8000") + "/agent/v1/chat/completions"
result = chat_completion_non_stream(url, "demo-app", "demo-bot", "你好")
print(json.dumps(result, ensure_ascii=False))
