/** What the picture means, in a few sentences, and how to get data in. */
export function AboutText() {
  return (
    <div className="about">
      <p>
        Each point is a <strong>role</strong> (a persona the model was asked to play): its mean <code>resid_post</code> activation at one layer.
        <strong> PC1</strong> is the direction along which the roles differ most; in the paper it runs from fantastical
        <em> role-play</em> characters to the helpful <em>Assistant</em>. The <strong>Assistant Axis</strong> (the arrow) points from the
        mean of the roles to the model's default Assistant (the star): default − mean(roles). Every PC is signed so the
        axis projects positively on it, so the Assistant end is always on the right.
      </p>
      <p className="muted small-text">After <em>The Assistant Axis</em> (arXiv 2601.10387). Everything runs in this browser; nothing is uploaded.</p>
    </div>
  );
}

export function EmptyState({ onDemo }: { onDemo(n: number): void }) {
  return (
    <div className="empty">
      <h2>Load persona vectors to draw the map</h2>
      <div className="drop-hint" aria-hidden="true">Drop files or a whole folder here (or anywhere on the page)</div>
      <ul>
        <li><strong>Drop</strong> files or a folder, or use <em>Open files</em> / <em>Open folder</em> on the left.</li>
        <li>A folder of per-role files as the reference pipeline writes them (<code>vectors/&lt;role&gt;.pt</code>, with a <code>default.pt</code>), the
          official release layout (<code>role_vectors/</code>, <code>default_vector.pt</code>, <code>assistant_axis.pt</code>), one file holding a
          dict name → tensor, or an (N, d) <code>.npy</code>/safetensors array with a names file.</li>
        <li>One click for the <strong>official release</strong> (Gemma 2 27B, Qwen3 32B, Llama 3.3 70B): downloaded once, then cached for offline use.</li>
        <li>Or paste a URL: a file, a hub folder (<code>…/datasets/&lt;repo&gt;/tree/main/&lt;folder&gt;</code>) or <code>hf://datasets/&lt;repo&gt;/&lt;folder&gt;</code>.</li>
      </ul>
      <p>
        No vectors at hand? <button type="button" className="link" onClick={() => onDemo(275)}>Try a synthetic set of 275 roles with 24 layers</button>{' '}
        or <button type="button" className="link" onClick={() => onDemo(20000)}>20,000 points</button>.
      </p>
      <AboutText />
    </div>
  );
}
