package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Config selects an S3-compatible endpoint and credentials. Empty fields
// fall back to the AWS SDK's usual chain: AWS_REGION, AWS_ENDPOINT_URL_S3 /
// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN, AWS_PROFILE and the shared config files, then instance
// roles.
type S3Config struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key (most self-hosted servers want it).
	PathStyle bool
	// Anonymous signs nothing unless AccessKeyID is set: never the SDK's
	// chain (environment, profile, instance role). Set for endpoints a job
	// chose, so a node's own credentials go only to its own endpoint.
	Anonymous bool
	// Session marks an endpoint a job chose (kapot.s3.endpoint other than
	// the node's): unless the registry allows local URLs it may not
	// resolve to or dial a local address, and every failure that is not an
	// S3 server's answer reads the same (ErrUnreachable).
	Session bool
}

// Session properties that override S3 settings for one job.
const (
	PropS3Endpoint        = "kapot.s3.endpoint"
	PropS3Region          = "kapot.s3.region"
	PropS3AccessKeyID     = "kapot.s3.access_key_id"
	PropS3SecretAccessKey = "kapot.s3.secret_access_key"
	PropS3SessionToken    = "kapot.s3.session_token"
	PropS3PathStyle       = "kapot.s3.path_style"
)

// WithProperties returns c overridden by a job's kapot.s3.* properties.
func (c S3Config) WithProperties(props map[string]string) (S3Config, error) {
	set := func(dst *string, key string) {
		if v, ok := props[key]; ok {
			*dst = v
		}
	}
	if v, ok := props[PropS3Endpoint]; ok && v != c.Endpoint {
		// An endpoint the job chose gets the job's credentials only: the
		// node's (configured, or from its environment or instance role)
		// would be presented to a server anyone submitting a job picks.
		c.Endpoint, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Anonymous = v, "", "", "", true
		// An empty one means the SDK's own (AWS, or the operator's
		// AWS_ENDPOINT_URL_S3).
		c.Session = v != ""
	}
	set(&c.Region, PropS3Region)
	set(&c.AccessKeyID, PropS3AccessKeyID)
	set(&c.SecretAccessKey, PropS3SecretAccessKey)
	set(&c.SessionToken, PropS3SessionToken)
	if v, ok := props[PropS3PathStyle]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("session property %s=%q: want true or false", PropS3PathStyle, v)
		}
		c.PathStyle = b
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return c, fmt.Errorf("S3 credentials need both an access key id and a secret access key")
	}
	return c, nil
}

// S3 reads objects from one S3-compatible endpoint.
type S3 struct {
	client *s3.Client
	// session: the endpoint is a job's choice (S3Config.Session).
	session bool
}

// NewS3 builds a client for cfg. Its connections may reach any address:
// the registry builds the clients of sessions' endpoints, which may not.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) { return newS3(ctx, cfg, false) }

// newS3 builds a client for cfg; with refuseLocal, every connection it
// dials is checked (refuseLocalDial).
func newS3(ctx context.Context, cfg S3Config, refuseLocal bool) (*S3, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if refuseLocal {
		hc := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) { d.Control = refuseLocalDial })
		opts = append(opts, awsconfig.WithHTTPClient(hc))
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	switch {
	case cfg.AccessKeyID != "":
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	case cfg.Anonymous:
		opts = append(opts, awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 configuration: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Range reads of objects we checksum ourselves (cache pages): no
		// whole-object checksum validation on partial GETs.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		if cfg.Session {
			o.APIOptions = append(o.APIOptions, requireS3Answer)
		}
	})
	return &S3{client: client, session: cfg.Session}, nil
}

// errNotS3 is a reply without the request id every S3 server sends: some
// other service answered (fail turns it into ErrUnreachable).
var errNotS3 = errors.New("the reply is not an S3 server's")

// requireS3Answer refuses, before it is parsed, any reply that lacks an
// x-amz-request-id: at a session's endpoint a service that is not S3 must
// look the same as a closed port, whatever it answers (an empty 200 would
// otherwise be an empty listing).
func requireS3Answer(st *middleware.Stack) error {
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("kapotRequireS3Answer",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Header.Get("X-Amz-Request-Id") == "" {
				resp.Body.Close()
				return out, md, errNotS3
			}
			return out, md, err
		}), middleware.After)
}

// Client exposes the SDK client (tests seed buckets with it).
func (s *S3) Client() *s3.Client { return s.client }

type s3Object struct {
	s         *S3
	bucket    string
	key       string
	size      int64
	etag, loc string
	// ctx is the context the object was opened with (the task's): reads
	// stop when it is cancelled.
	ctx context.Context
}

// fail is the error of a request for location: s3Error, except that at a
// session's endpoint anything but an S3 server's answer (one that carries
// an x-amz-request-id) is ErrUnreachable, so the text never tells a closed
// port, a timeout or another kind of service from one another.
func (s *S3) fail(location string, err error) error {
	if s.session && !errors.Is(err, context.Canceled) && !fromS3(err) {
		return fmt.Errorf("%s: %w: %w", location, ErrUnreachable, ErrIO)
	}
	return s3Error(location, err)
}

// fromS3 reports whether err is an answer of an S3 server (the SDK read
// its request id from the reply).
func fromS3(err error) bool {
	var r interface{ ServiceRequestID() string }
	return errors.As(err, &r) && r.ServiceRequestID() != ""
}

func s3Error(location string, err error) error {
	var nf *types.NotFound
	var nk *types.NoSuchKey
	var nb *types.NoSuchBucket
	var re *smithyhttp.ResponseError
	switch {
	case errors.As(err, &nf), errors.As(err, &nk), errors.As(err, &nb):
		return fmt.Errorf("%s: %w", location, ErrNotFound)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("%s: %w", location, ErrNotFound)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed:
		return fmt.Errorf("%s: %w", location, ErrChanged)
	}
	return fmt.Errorf("%s: %w: %w", location, ErrIO, err)
}

// Open implements Store with a HEAD request.
func (s *S3) Open(ctx context.Context, location string) (Object, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	if l.Scheme != "s3" || l.Key == "" {
		return nil, fmt.Errorf("%s: not an S3 object location", location)
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &l.Bucket, Key: &l.Key})
	if err != nil {
		return nil, s.fail(location, err)
	}
	return &s3Object{s: s, bucket: l.Bucket, key: l.Key, size: aws.ToInt64(h.ContentLength), etag: aws.ToString(h.ETag), loc: location, ctx: ctx}, nil
}

// List implements Store: the object itself, or the objects under the prefix
// location/ (skipping hidden and _-prefixed names).
func (s *S3) List(ctx context.Context, location string) ([]string, error) {
	l, err := Parse(location)
	if err != nil {
		return nil, err
	}
	if l.Key != "" && !strings.HasSuffix(l.Key, "/") {
		if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &l.Bucket, Key: &l.Key}); err == nil {
			return []string{location}, nil
		}
		l.Key += "/"
	}
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &l.Bucket, Prefix: &l.Key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail(location, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			rel := strings.TrimPrefix(key, l.Key)
			if rel == "" || strings.HasSuffix(key, "/") || hiddenPath(rel) {
				continue
			}
			out = append(out, "s3://"+l.Bucket+"/"+key)
		}
	}
	sort.Strings(out)
	return out, nil
}

func hiddenPath(rel string) bool {
	for _, part := range strings.Split(rel, "/") {
		if part != "" && (part[0] == '.' || part[0] == '_') {
			return true
		}
	}
	return false
}

// ReadAt fetches one byte range of the opened version (If-Match its ETag).
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	want := int64(len(p))
	if off+want > o.size {
		want = o.size - off
	}
	if want == 0 {
		return 0, nil
	}
	in := &s3.GetObjectInput{Bucket: &o.bucket, Key: &o.key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+want-1))}
	if o.etag != "" {
		in.IfMatch = aws.String(o.etag)
	}
	out, err := o.s.client.GetObject(o.ctx, in)
	if err != nil {
		return 0, o.s.fail(o.loc, err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, p[:want])
	if err != nil {
		if o.s.session {
			return n, o.s.fail(o.loc, err)
		}
		return n, fmt.Errorf("%s: read range at %d: %w: %w", o.loc, off, ErrIO, err)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (o *s3Object) Size() int64      { return o.size }
func (o *s3Object) Version() string  { return "etag:" + o.etag }
func (o *s3Object) Location() string { return o.loc }
func (o *s3Object) Close() error     { return nil }
