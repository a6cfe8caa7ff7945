import { runMetricWriterWorker } from './metricWriter';

// Entry of dist/metricWriter.js: the tracking server's metric writes on a thread of their own.
runMetricWriterWorker();
