import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Cross-origin isolation (SharedArrayBuffer, so onnxruntime-web's WASM runs on several threads):
// every response of the dev and preview servers carries these. Hub downloads are CORS fetches,
// which require-corp allows. Static hosts that cannot send headers get them from public/sw.js.
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// The app is served from any static host; relative base keeps the build portable.
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  // transformers.js (used for tokenizers only) imports ORT's WebGPU bundle; point it at the same ORT
  // build the model worker uses, so one runtime and one .wasm file ship (not a second 27 MB one).
  resolve: { alias: [{ find: /^onnxruntime-web\/webgpu$/, replacement: 'onnxruntime-web' }] },
  build: {
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 4096,
    // The second page is the model-runtime test page driven by e2e/runtime.spec.ts.
    rolldownOptions: { input: { main: 'index.html', runtime: 'e2e/pages/runtime.html', kernel: 'e2e/pages/kernel.html', memories: 'e2e/pages/memories.html' } },
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
