/** Exact linear algebra and statistics over typed arrays (no dependencies; runs in tab, worker, Node). */
export { dot, norm, cosine, sub, rowMean, meanOfRows, type Vec } from './vector';
export { percentile, percentiles, mean, pearson, spearman, ranks } from './stats';
export { symmetricEigen, symmetricEigenTop, type SymmetricEigen, type TopEigen } from './eigen';
export { pca, projectOnComponents, pcaBackend, setPcaBackend, type PcaOptions, type PcaResult, type PcaWorkspace } from './pca';
