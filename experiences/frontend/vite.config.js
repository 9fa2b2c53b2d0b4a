// Builds the canvas into Django static files (experiences/static/experiences/builder/), with
// fixed file names the page template points at.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: "../static/experiences/builder",
    emptyOutDir: true,
    cssCodeSplit: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input: "src/main.jsx",
      output: {
        entryFileNames: "builder.js",
        chunkFileNames: "builder-[name].js",
        assetFileNames: (asset) =>
          asset.names?.some((n) => n.endsWith(".css")) ? "builder.css" : "[name][extname]",
      },
    },
  },
});
