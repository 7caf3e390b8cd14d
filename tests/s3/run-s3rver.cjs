// Starts @20minutes/s3rver from its library (the package's bin file is
// missing): node run-s3rver.cjs <path of lib/cli.js> <s3rver flags...>
require(process.argv[2])
  .parseAsync([process.argv[0], process.argv[2], ...process.argv.slice(3)])
  .catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
