import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The app is served from any static host; relative base keeps the build portable.
export default defineConfig({
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  // transformers.js (used for tokenizers only) imports ORT's WebGPU bundle; point it at the same ORT
  // build the model worker uses, so one runtime and one .wasm file ship (not a second 27 MB one).
  resolve: { alias: [{ find: /^onnxruntime-web\/webgpu$/, replacement: 'onnxruntime-web' }] },
  build: {
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 4096,
    // The second page is the model-runtime test page driven by e2e/runtime.spec.ts.
    rolldownOptions: { input: { main: 'index.html', runtime: 'e2e/pages/runtime.html' } },
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
