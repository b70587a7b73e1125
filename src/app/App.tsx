export function App() {
  return (
    <main>
      <h1>persona-space</h1>
      <p>Explore the persona space of language models: load role vectors, see them on PC1–PC3.</p>
    </main>
  );
}
