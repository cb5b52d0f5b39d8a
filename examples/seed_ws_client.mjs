// The design document's JavaScript WebSocket client (reference/astron-chat-interface.zh.md), unchanged
// but for where it points (this server's /agent/v1/ws, app "demo-app") and a real signature instead of
// 'your_signature': signa = Base64(HMAC-SHA1(secret, hex MD5(appid + ts))), ts = Date.now() as written.
// Runs in a browser as is; under Node 20 run it with `node --experimental-websocket` (Node 22 needs no flag).
import { createHash, createHmac } from 'node:crypto';

class WebSocketClient {
    constructor(url, tokenParams) {
        this.url = url;
        this.tokenParams = tokenParams;
        this.ws = null;
        this.isConnected = false;
        this.messageQueue = [];
        this.onMessage = null;
        this.onError = null;
        this.onClose = null;
    }

    connect() {
        const fullUrl = this.assembleRequestUrl();
        this.ws = new WebSocket(fullUrl);

        this.ws.onopen = () => {
            console.log('WebSocket连接已建立');
            this.isConnected = true;
            this.processMessageQueue();
        };

        this.ws.onmessage = (event) => {
            try {
                const data = JSON.parse(event.data);
                if (this.onMessage) {
                    this.onMessage(data);
                }
            } catch (error) {
                console.error('解析WebSocket消息失败:', error);
                if (this.onError) {
                    this.onError(error);
                }
            }
        };

        this.ws.onerror = (error) => {
            console.error('WebSocket错误:', error);
            if (this.onError) {
                this.onError(error);
            }
        };

        this.ws.onclose = (event) => {
            console.log('WebSocket连接已关闭', event.code);
            this.isConnected = false;
            if (this.onClose) {
                this.onClose(event);
            }
        };
    }

    assembleRequestUrl() {
        return `${this.url}?appid=${this.tokenParams.appid}&ts=${this.tokenParams.ts}&signa=${this.tokenParams.signa}`;
    }

    sendMessage(message) {
        if (this.isConnected) {
            this.ws.send(JSON.stringify(message));
        } else {
            this.messageQueue.push(message);
        }
    }

    processMessageQueue() {
        while (this.messageQueue.length > 0 && this.isConnected) {
            const message = this.messageQueue.shift();
            this.ws.send(JSON.stringify(message));
        }
    }

    disconnect() {
        if (this.ws) {
            this.ws.close();
        }
    }
}

// 使用示例
const wsUrl = (process.env.ASTRON_URL ?? 'http://localhost:8000').replace(/^http/, 'ws') + '/agent/v1/ws';
const appid = 'demo-app';
const ts = Date.now();
const md5 = createHash('md5').update(`${appid}${ts}`).digest('hex');
const tokenParams = {
    url: wsUrl,
    appid,
    ts,
    signa: encodeURIComponent(createHmac('sha1', 'demo-secret').update(md5).digest('base64')),
};

const wsClient = new WebSocketClient(wsUrl, tokenParams);

let answer = '';
wsClient.onMessage = (data) => {
    if (data.code !== 0) console.error('error frame:', data.code, data.message);
    answer += data.choices?.[0]?.delta?.content ?? '';
    if (data.choices?.[0]?.finish_reason === 'stop') {
        console.log(answer);
        wsClient.disconnect();
    }
};
wsClient.onError = () => (process.exitCode = 1);

wsClient.sendMessage({ bot_id: 'demo-bot', uid: 'user123', parameters: { messages: [{ role: 'user', content: '你好' }] } });
wsClient.connect();
