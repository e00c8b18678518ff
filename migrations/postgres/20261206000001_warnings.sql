-- What the plugin reported changing in the data to fit its format (contract
-- 1.1.0's `sink.report-warning`: a cell cut at Excel's limit, a character
-- the PDF font cannot draw), as JSON: [{"code", "count", "examples"}]. NULL
-- when it reported nothing. A part keeps its own; the job's is the sum over
-- its parts, set when it completes.
ALTER TABLE export_jobs ADD COLUMN warnings TEXT;
ALTER TABLE export_parts ADD COLUMN warnings TEXT;
